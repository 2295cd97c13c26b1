package postgres

// RefundCoverageStatement is refund_coverage.sql, for tests that explain it.
var RefundCoverageStatement = qRefundCoverage
