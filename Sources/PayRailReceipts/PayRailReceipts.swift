// The PayRailReceipts module. See README.md for the architecture.
