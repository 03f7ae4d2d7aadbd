// PayRailServer: the Gate (framework-agnostic: request parts in, decision out), pricing, rate limits.
