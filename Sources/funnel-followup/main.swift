import FunnelRuntime

print("funnel-followup: not implemented yet")
