package store

// BetweenSteps makes s call pause at each step of Reserve and Release, so a
// test can run them in every interleaving.
func BetweenSteps(s *Tickets, pause func(step string)) { s.between = pause }
