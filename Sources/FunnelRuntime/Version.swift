public enum FunnelRuntimeInfo { public static let version = "0.1.0" }
