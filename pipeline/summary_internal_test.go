package pipeline

import (
	"testing"

	"github.com/matryer/is"
)

// A stage that did work closes with one line for people: how long, and what it made.
func TestDoneLine(t *testing.T) {
	is := is.New(t)
	is.Equal(doneLine(StageSummary{Stage: "save", Ran: true, Seconds: 6.3, Bytes: 540162717}), "save: done in 6.3s, 515.1MiB")
	is.Equal(doneLine(StageSummary{Stage: "deploy", Ran: true, Seconds: 12}), "deploy: done in 12.0s")
}
