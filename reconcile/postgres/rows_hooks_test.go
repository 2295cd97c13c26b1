package postgres

// StreamRefunds runs a statement as the refunds export does.
var StreamRefunds = streamRefunds
