package pgclient

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// Class is the classification of an error.
type Class struct {
	// Category is one of the abi.Category constants.
	Category string
	// Code is a short machine-readable code (the SQLSTATE when known).
	Code string
	// Retryable says whether the same work may succeed if tried again.
	Retryable bool
}

// Classify maps an error from a connection (or the dialer) to a Class.
func Classify(err error) Class {
	if err == nil {
		return Class{}
	}
	var pgErr *PgError
	if errors.As(err, &pgErr) {
		return classifySQLState(pgErr.Code)
	}
	switch {
	case errors.Is(err, errAuth):
		return Class{Category: abi.CategoryAuth, Code: "auth"}
	case errors.Is(err, context.Canceled):
		return Class{Category: abi.CategoryCancelled, Code: "cancelled"}
	case Timeout(err):
		return Class{Category: abi.CategoryTransientNetwork, Code: "timeout", Retryable: true}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return Class{Category: abi.CategoryTransientNetwork, Code: "connection", Retryable: true}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return Class{Category: abi.CategoryTransientNetwork, Code: "network", Retryable: true}
	}
	var connErr *ConnectError
	if errors.As(err, &connErr) {
		return Class{Category: abi.CategoryTransientNetwork, Code: "connect", Retryable: true}
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "conn closed") {
		return Class{Category: abi.CategoryTransientNetwork, Code: "connection", Retryable: true}
	}
	return Class{Category: abi.CategoryInternal, Code: "internal"}
}

// classifySQLState maps a SQLSTATE to a Class.
func classifySQLState(code string) Class {
	switch code {
	case "28P01", "28000":
		return Class{Category: abi.CategoryAuth, Code: code}
	case "42501":
		return Class{Category: abi.CategoryPermission, Code: code}
	case "3D000", "3F000", "42P01", "42703", "42883", "42704":
		return Class{Category: abi.CategoryConfig, Code: code}
	case "40001", "40P01", "57P01", "57P02", "57P03", "55P03", "57014":
		return Class{Category: abi.CategoryTransientDB, Code: code, Retryable: true}
	}
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return Class{Category: abi.CategoryTransientDB, Code: code, Retryable: true}
	case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"):
		return Class{Category: abi.CategoryData, Code: code}
	case strings.HasPrefix(code, "42"):
		return Class{Category: abi.CategorySchema, Code: code}
	case strings.HasPrefix(code, "58"), strings.HasPrefix(code, "XX"):
		return Class{Category: abi.CategoryTransientDB, Code: code}
	}
	return Class{Category: abi.CategoryInternal, Code: code}
}

// Sanitize removes the password (and any "password=..." keyword) from msg.
func Sanitize(msg, password string) string {
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "[redacted]")
	}
	for _, key := range []string{"password=", "PASSWORD="} {
		from := 0
		for {
			i := strings.Index(msg[from:], key)
			if i < 0 {
				break
			}
			j := from + i + len(key)
			k := j
			for k < len(msg) && msg[k] != ' ' && msg[k] != '&' && msg[k] != '`' && msg[k] != '\'' {
				k++
			}
			msg = msg[:j] + "[redacted]" + msg[k:]
			from = j + len("[redacted]")
		}
	}
	return msg
}
