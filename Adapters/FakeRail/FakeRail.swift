// The FakeRail adapter: a fake payment processor with accounts, signed vouchers and at-most-once settlement.
