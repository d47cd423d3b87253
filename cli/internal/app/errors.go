package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	"github.com/rapidbyte/rapidbyte/cli/internal/report"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// usageError is a mistake in the command line itself.
type usageError struct {
	cmd string
	err error
}

// Error renders the mistake on one line with a pointer to the command's help.
func (e *usageError) Error() string {
	msg := e.err.Error()
	if head, rest, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		msg = head + " (did you mean " + strings.Join(strings.Fields(rest), ", ") + "?)"
	}
	return fmt.Sprintf("%s (see '%s --help')", strings.Join(strings.Fields(msg), " "), e.cmd)
}

// Unwrap returns the cause.
func (e *usageError) Unwrap() error { return e.err }

// exitError is a failure whose details were already printed; msg (if any) is the
// one-line error to show on stderr.
type exitError struct {
	code int
	msg  string
}

// Error implements error.
func (e *exitError) Error() string { return e.msg }

// fileError is a coordinator error about a pipeline file, already rendered with the
// file's name in front of each problem.
type fileError struct {
	text string
	err  error
}

// Error implements error.
func (e *fileError) Error() string { return e.text }

// Unwrap returns the coordinator error.
func (e *fileError) Unwrap() error { return e.err }

// exitCode picks the process exit code for err.
func exitCode(err error) int {
	var ue *usageError
	var xe *exitError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &xe):
		return xe.code
	}
	return ExitFailure
}

// describe renders err as the one-line message printed after "error: ".
func (a *app) describe(err error) string {
	var (
		ue *usageError
		xe *exitError
		fe *fileError
		re *coord.UnreachableError
		ce *coord.Error
	)
	switch {
	case errors.As(err, &ue):
		return ue.Error()
	case errors.As(err, &xe):
		return xe.msg
	case errors.As(err, &fe):
		return fe.text
	case errors.As(err, &re):
		return re.Error()
	case errors.As(err, &ce):
		return a.describeStatus(ce)
	}
	return err.Error()
}

// describeStatus renders a coordinator error: its ConnectorError when it has one,
// else a sentence chosen by the gRPC code.
func (a *app) describeStatus(e *coord.Error) string {
	addr := a.addr
	if addr == "" {
		addr = "the coordinator"
	}
	msg := strings.Join(strings.Fields(e.Message), " ")
	if strings.Contains(msg, "unexpected HTTP status code") || strings.Contains(msg, "malformed header") {
		return fmt.Sprintf("the server at %s is not a Rapidbyte coordinator: %s", addr, msg)
	}
	switch e.Code {
	case codes.Unauthenticated:
		// Only the coordinator's auth interceptor answers Unauthenticated
		// without a ConnectorError: then the caller's token is to blame. A
		// connector's own auth failure carries its ConnectorError (and
		// travels as PermissionDenied) and is reported below.
		if e.Failure == nil {
			return fmt.Sprintf("coordinator at %s rejected the request: %s (check --auth-token or %s)", addr, msg, EnvAuthToken)
		}
	case codes.Unavailable:
		if e.Failure == nil {
			return fmt.Sprintf("lost connection to coordinator at %s: %s", addr, msg)
		}
	case codes.DeadlineExceeded:
		if e.Failure == nil {
			return fmt.Sprintf("coordinator at %s did not answer in time: %s", addr, msg)
		}
	case codes.Unimplemented:
		return fmt.Sprintf("coordinator at %s does not support this request (older version?): %s", addr, msg)
	}
	if e.Failure != nil {
		return report.FailureLine(e.Failure)
	}
	return msg
}

var (
	// posLine matches "12:5: message" and "12: message", optionally after a placeholder
	// file name such as "pipeline.yaml:".
	posLine = regexp.MustCompile(`^(?:[\w.<>-]*\.ya?ml:|<[^>]*>:)?(\d+):(?:(\d+):)?\s*(.*)$`)
	// yamlLine matches yaml.v3's "yaml: line 12: message" and "line 12: message".
	yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+)(?:, column (\d+))?:\s*(.*)$`)
	// namedLine matches a placeholder file name without position: "pipeline.yaml: message".
	namedLine = regexp.MustCompile(`^(?:pipeline\.ya?ml|<[^>]*>):\s*(.*)$`)
)

// pipelineError renders a coordinator error about the pipeline in file: validation
// problems get the file name in front ("x.yaml:3:5: ..."), and an unknown connector gets
// the list of connectors the coordinator has. Other errors come back unchanged.
func (a *app) pipelineError(ctx context.Context, api rapidbytev1.CoordinatorServiceClient, file string, err error) error {
	var ce *coord.Error
	if !errors.As(err, &ce) {
		return err
	}
	known := ""
	if unknownConnector(ce) {
		known = knownConnectors(ctx, api)
	}
	if !isValidation(ce) {
		if known == "" {
			return err
		}
		return &fileError{text: fmt.Sprintf("%s (available connectors: %s)", a.describeStatus(ce), known), err: err}
	}
	msg := ce.Message
	hint := ""
	if ce.Failure != nil {
		msg, hint = ce.Failure.Message, ce.Failure.Hint
	}
	lines := fileLines(file, msg)
	for i, l := range lines {
		if known != "" && mentionsConnector(l) {
			lines[i] += " (available connectors: " + known + ")"
			known = ""
		}
	}
	if known != "" {
		lines[len(lines)-1] += " (available connectors: " + known + ")"
	}
	text := strings.Join(lines, "\n")
	if hint = strings.Join(strings.Fields(hint), " "); hint != "" {
		sep := "; hint: "
		if len(lines) > 1 {
			sep = "\nhint: "
		}
		text += sep + hint
	}
	return &fileError{text: text, err: err}
}

// fileLines splits a validation message into its problems, each prefixed with file.
func fileLines(file, msg string) []string {
	var lines []string
	for _, raw := range strings.Split(msg, "\n") {
		l := strings.TrimSpace(raw)
		l = strings.TrimSpace(strings.TrimPrefix(l, "- "))
		if l == "" || strings.EqualFold(strings.TrimSuffix(l, ":"), "pipeline validation failed") {
			continue
		}
		lines = append(lines, prefixFile(file, l))
	}
	if len(lines) == 0 {
		lines = []string{file + ": invalid pipeline"}
	}
	return lines
}

// isValidation reports whether a coordinator error is about the pipeline's content.
func isValidation(e *coord.Error) bool {
	if e.Failure == nil {
		return e.Code == codes.InvalidArgument
	}
	if e.Failure.Category != "config" || e.Failure.Connector != "" {
		return false
	}
	for _, l := range strings.Split(e.Failure.Message, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		if yamlLine.MatchString(l) || posLine.MatchString(l) {
			return true
		}
	}
	return e.Code == codes.InvalidArgument && !unknownConnector(e)
}

// prefixFile puts file in front of one problem line.
func prefixFile(file, l string) string {
	if m := yamlLine.FindStringSubmatch(l); m != nil {
		return position(file, m[1], m[2]) + m[3]
	}
	if m := posLine.FindStringSubmatch(l); m != nil {
		return position(file, m[1], m[2]) + m[3]
	}
	if m := namedLine.FindStringSubmatch(l); m != nil {
		return file + ": " + m[1]
	}
	return file + ": " + l
}

func position(file, line, col string) string {
	if col == "" {
		return file + ":" + line + ": "
	}
	return file + ":" + line + ":" + col + ": "
}

// unknownConnector reports whether e says a pipeline names a connector the coordinator lacks.
func unknownConnector(e *coord.Error) bool {
	if e.Failure != nil {
		switch e.Failure.Code {
		case "CONNECTOR_NOT_FOUND", "UNKNOWN_CONNECTOR", "MODULE_NOT_FOUND", "NO_SUCH_CONNECTOR":
			return true
		}
	}
	msg := e.Message
	if e.Failure != nil {
		msg = e.Failure.Message
	}
	for _, l := range strings.Split(msg, "\n") {
		if mentionsConnector(l) {
			return true
		}
	}
	return false
}

// failureNamesUnknownConnector reports whether any of fs says a connector is unknown.
func failureNamesUnknownConnector(fs ...*coord.Failure) bool {
	for _, f := range fs {
		if f != nil && unknownConnector(&coord.Error{Failure: f}) {
			return true
		}
	}
	return false
}

// mentionsConnector reports whether one message line says a connector is unknown.
func mentionsConnector(l string) bool {
	l = strings.ToLower(l)
	if !strings.Contains(l, "connector") {
		return false
	}
	for _, w := range []string{"unknown", "not found", "no such", "not available"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// knownConnectors lists the ids of the coordinator's connectors, sorted, or "" when
// the coordinator cannot say.
func knownConnectors(ctx context.Context, api rapidbytev1.CoordinatorServiceClient) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := api.ListConnectors(ctx, &rapidbytev1.ListConnectorsRequest{})
	if err != nil {
		return ""
	}
	var ids []string
	for _, c := range resp.GetConnectors() {
		if !slices.Contains(ids, c.GetId()) {
			ids = append(ids, c.GetId())
		}
	}
	if len(ids) == 0 {
		return "none"
	}
	slices.Sort(ids)
	return strings.Join(ids, ", ")
}
