import FunnelRuntime

print("funnel-score: not implemented yet")
