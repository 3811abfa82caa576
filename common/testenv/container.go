package testenv

import (
	"context"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// runContainer starts image (UseContainers), waits until port listens, and
// returns the endpoint as scheme://host:port and how to remove the container.
func runContainer(image, port, scheme string, cmd ...string) (string, func(), error) {
	ctx := context.Background()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(port),
		testcontainers.WithWaitStrategy(wait.ForListeningPort(port)),
	}
	if len(cmd) > 0 {
		opts = append(opts, testcontainers.WithCmd(cmd...))
	}
	c, err := testcontainers.Run(ctx, image, opts...)
	if err != nil {
		return "", nil, fmt.Errorf("%s container: %w", image, err)
	}
	stop := func() { _ = testcontainers.TerminateContainer(c) }
	endpoint, err := c.PortEndpoint(ctx, port, scheme)
	if err != nil {
		stop()
		return "", nil, err
	}
	return endpoint, stop, nil
}
