"""Distribution (分销): distributors, binding, share links, the commission engine and ledger, withdrawals."""
