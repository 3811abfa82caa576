module ticketing.dev/infra/loadbench

go 1.26.0

require (
	github.com/nats-io/nats.go v1.53.1
	github.com/nats-io/stan.go v0.10.4
	github.com/stretchr/testify v1.12.1
	go.mongodb.org/mongo-driver v1.17.10
	golang.org/x/crypto v0.58.0
	ticketing.dev/infra/runner v0.0.0
)

require (
	github.com/fatih/color v1.19.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/snappy v0.0.4 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hashicorp/go-metrics v0.7.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mattn/go-colorable v0.1.16 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/montanaflynn/stats v0.7.1 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/xdg-go/pbkdf2 v1.0.0 // indirect
	github.com/xdg-go/scram v1.1.2 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	github.com/youmark/pkcs8 v0.0.0-20240726163527-a2c0da244d78 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	ticketing.dev/common v0.0.0 // indirect
)

replace ticketing.dev/infra/runner => ../runner

replace ticketing.dev/common => ../../common
