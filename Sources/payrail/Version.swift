/// The version printed by `payrail --version`.
enum PayRailVersion {
    static let current = "0.1.0"
}
