// The PayRailCrypto module. See README.md for the architecture.
