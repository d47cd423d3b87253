package pipeline_test

import (
	"fmt"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
)

func ExampleParse() {
	src := []byte(`version: "1.0"
pipeline: demo
source:
  use: source-postgres
  config: {password: ${PG_PASSWORD}}
  streams: [{name: users}]
destination:
  use: dest-postgres
  write_mode: upsrt
`)
	_, err := pipeline.Parse(src, pipeline.MapLookup(nil, nil))
	fmt.Println(err)
	// Output:
	// pipeline.yaml:5:22: source.config.password: variable ${PG_PASSWORD} is not set
	// pipeline.yaml:9:15: destination.write_mode: "upsrt" is not one of append, replace, upsert (did you mean "upsert"?)
}

func ExamplePipeline_Resolve() {
	src := []byte(`version: "1.0"
pipeline: demo
source:
  use: source-postgres
  config: {host: db, port: ${PG_PORT}, password: ${PG_PASSWORD}}
  streams: [{name: users}]
destination: {use: dest-postgres}
`)
	env := pipeline.MapLookup(map[string]string{"PG_PORT": "5432", "PG_PASSWORD": "hunter2"}, nil)
	p, err := pipeline.Parse(src, env)
	if err != nil {
		panic(err)
	}
	// What the coordinator stores and logs: references, never values.
	fmt.Println(p.Source.Config["password"])
	// What it sends a worker at dispatch.
	r, err := p.Resolve(env)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Source["port"], r.Source["password"])
	// What an API response shows.
	fmt.Println(pipeline.Redact(r.Source, nil)["password"])
	// Output:
	// ${PG_PASSWORD}
	// 5432 hunter2
	// ***
}
