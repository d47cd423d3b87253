// Package coord is the CLI's transport to rapidbyte.v1.CoordinatorService: it dials the
// coordinator (plaintext or TLS, with an optional bearer token), fails fast when the
// coordinator cannot be reached, and maps every gRPC status back to a Go error in one place.
package coord
