// Package pgclient is the connectors' PostgreSQL client: the connection
// settings shared by the source and destination, connections (through a
// caller-supplied dialer, for host-proxied sockets; TLS in the host) that
// authenticate with SCRAM-SHA-256, MD5 or a password, queries, streamed
// results, COPY FROM STDIN and the replication commands, and the
// classification of PostgreSQL errors into connector error categories. It
// speaks the protocol through pgproto3 only (see Conn for why).
package pgclient

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// SSL modes.
const (
	SSLDisable    = "disable"
	SSLRequire    = "require"
	SSLVerifyFull = "verify-full"
)

// Config is the connection part of both connectors' config.
type Config struct {
	// Host is the server host name or address. Required.
	Host string `json:"host"`
	// Port is the server port; default 5432.
	Port int `json:"port,omitempty"`
	// User is the role to connect as. Required.
	User string `json:"user"`
	// Password is the role's password; secret.
	Password string `json:"password,omitempty"`
	// Database is the database name. Required.
	Database string `json:"database"`
	// Schema limits discovery / names the destination schema.
	Schema string `json:"schema,omitempty"`
	// SSLMode is disable (default), require or verify-full.
	SSLMode string `json:"sslmode,omitempty"`
	// CACert is a PEM bundle of trusted roots for require / verify-full.
	CACert string `json:"ca_cert,omitempty"`
	// ConnectTimeout is the connect timeout in seconds; default 10.
	ConnectTimeout int `json:"connect_timeout,omitempty"`
	// ApplicationName is reported to the server; default "rapidbyte".
	ApplicationName string `json:"application_name,omitempty"`
}

// WithDefaults returns c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Port == 0 {
		c.Port = 5432
	}
	if c.SSLMode == "" {
		c.SSLMode = SSLDisable
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "rapidbyte"
	}
	return c
}

// Validate lists every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Host) == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", c.Port))
	}
	if c.User == "" {
		errs = append(errs, errors.New("user is required"))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("database is required"))
	}
	switch c.SSLMode {
	case "", SSLDisable, SSLRequire, SSLVerifyFull:
	default:
		errs = append(errs, fmt.Errorf("sslmode %q: want disable, require or verify-full", c.SSLMode))
	}
	if c.ConnectTimeout < 0 {
		errs = append(errs, errors.New("connect_timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Timeout returns the connect timeout as a duration.
func (c Config) Timeout() time.Duration { return time.Duration(c.ConnectTimeout) * time.Second }
