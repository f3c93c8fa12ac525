import FunnelRuntime

print("funnel-route: not implemented yet")
