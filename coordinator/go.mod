module github.com/rapidbyte/rapidbyte/coordinator

go 1.26.0

require (
	github.com/apache/arrow-go/v18 v18.8.0
	github.com/hashicorp/go-hclog v1.6.3
	github.com/rapidbyte/rapidbyte/proto v0.0.0
	go.yaml.in/yaml/v3 v3.0.6
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

replace github.com/rapidbyte/rapidbyte/proto => ../proto

replace github.com/rapidbyte/rapidbyte/sdk => ../sdk
