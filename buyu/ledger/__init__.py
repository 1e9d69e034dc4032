"""The loan ledger: products, loans, schedules, accrual, repayment, journal and delinquency."""
