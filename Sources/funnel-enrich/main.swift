import FunnelRuntime

print("funnel-enrich: not implemented yet")
