package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/rapidbyte/rapidbyte/cli/internal/coord"
	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"
)

// Check is the outcome of verifying a pipeline.
type Check struct {
	OK    bool        `json:"ok"`
	Items []CheckItem `json:"items"`
}

// CheckItem is one verified aspect of a pipeline.
type CheckItem struct {
	Name    string         `json:"name"`
	OK      bool           `json:"ok"`
	Message string         `json:"message,omitempty"`
	Error   *coord.Failure `json:"error,omitempty"`
}

// CheckFromProto converts a check response. The result is OK only when the
// coordinator says so and no item failed.
func CheckFromProto(r *rapidbytev1.CoordinatorServiceCheckResponse) Check {
	out := Check{OK: r.GetOk(), Items: make([]CheckItem, 0, len(r.GetItems()))}
	for _, it := range r.GetItems() {
		out.Items = append(out.Items, CheckItem{
			Name:    it.GetName(),
			OK:      it.GetOk(),
			Message: it.GetMessage(),
			Error:   coord.FailureFromProto(it.GetError()),
		})
		if !it.GetOk() {
			out.OK = false
		}
	}
	return out
}

// Failed lists the names of the items that failed.
func (c Check) Failed() []string {
	var out []string
	for _, it := range c.Items {
		if !it.OK {
			out = append(out, it.Name)
		}
	}
	return out
}

// WriteCheckText writes one line per check item: its name, OK or FAILED, and its message.
func WriteCheckText(w io.Writer, c Check) error {
	p := &printer{w: w}
	width := 0
	for _, it := range c.Items {
		width = max(width, len(it.Name))
	}
	for _, it := range c.Items {
		verdict := "OK"
		msg := strings.Join(strings.Fields(it.Message), " ")
		var details []string
		if !it.OK {
			verdict = "FAILED"
			if it.Error != nil {
				msg = FailureLine(it.Error)
				// A message of several lines (one problem per line) is listed below the item.
				if problems := strings.Split(strings.TrimSpace(it.Error.Message), "\n"); len(problems) > 1 {
					f := *it.Error
					f.Message = fmt.Sprintf("%d problems", len(problems))
					msg, details = FailureLine(&f), problems
				}
			}
		}
		line := fmt.Sprintf("%-*s  %-6s", width, it.Name, verdict)
		if msg != "" {
			line += "  " + msg
		}
		p.line(strings.TrimRight(line, " "))
		for _, d := range details {
			p.line("    " + strings.TrimSpace(d))
		}
	}
	if failed := c.Failed(); len(failed) == 0 && c.OK {
		p.line("All checks passed.")
	}
	return p.err
}
