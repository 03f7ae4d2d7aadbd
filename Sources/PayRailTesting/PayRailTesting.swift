// The PayRailTesting module. See README.md for the architecture.
