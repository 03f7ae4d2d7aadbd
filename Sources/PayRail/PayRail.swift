// The PayRail module. See README.md for the architecture.
