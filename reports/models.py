# Reports own no records: every figure is computed from deploys and incidents.
