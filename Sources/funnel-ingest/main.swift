import FunnelRuntime

print("funnel-ingest: not implemented yet")
