module github.com/rapidbyte/rapidbyte/cli

go 1.26.0

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/rapidbyte/rapidbyte/proto v0.0.0
	github.com/spf13/cobra v1.10.2
	golang.org/x/term v0.48.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

replace github.com/rapidbyte/rapidbyte/proto => ../proto

replace github.com/rapidbyte/rapidbyte/sdk => ../sdk

replace github.com/rapidbyte/rapidbyte/worker => ../worker

replace github.com/rapidbyte/rapidbyte/coordinator => ../coordinator
