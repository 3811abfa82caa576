module ticketing.dev/infra/stripestandin

go 1.26.0
