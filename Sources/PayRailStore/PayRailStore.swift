// PayRailStore: what the gate must remember (challenges, consumptions, settlements, receipts, rate limits).
