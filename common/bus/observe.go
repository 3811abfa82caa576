package bus

// Observer is told what the client does with events, by subject (a fixed
// set, so fit for a metric's label): common/metrics counts it.
type Observer interface {
	Published(subject string)
	Handled(subject string)
	Redelivered(subject string)
	Parked(subject string)
}

// observer is the Observer the client tells; none counts nothing.
func (c *Config) observer() Observer {
	if c.Observer == nil {
		return unobserved{}
	}
	return c.Observer
}

type unobserved struct{}

func (unobserved) Published(string)   {}
func (unobserved) Handled(string)     {}
func (unobserved) Redelivered(string) {}
func (unobserved) Parked(string)      {}
