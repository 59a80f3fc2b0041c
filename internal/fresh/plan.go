package fresh

import "context"

// Plan is a stage's decision as a value: whether its output is fresh and why (Decision), what the
// decision looked at, what the stage would do otherwise, and that work. The stage runner carries
// it out, and the dry run, the run's summary and the CI line read the same value, so none of them
// infers the decision from log text or decides a second time.
type Plan struct {
	Decision
	// Subject narrows the decision to one item of the stage (a template of the deploy stage); ""
	// for the whole stage.
	Subject string
	// Inputs are what the decision looked at (files, settings, images), for the dry run.
	Inputs []string
	// Work says what the stage does when its output is not fresh, in words.
	Work string
	// Pending names what the decision could not look at (a dry run does not ask the daemon): a
	// Fresh verdict holds only while that did not change. "" when the decision is complete.
	Pending string
	// Do is the work; nil when Fresh, or when the plan was made for a dry run.
	Do func(context.Context) error
}

// Skipped is a fresh plan's line, after the stage's name: "skipped, <reason>", preceded by
// "<subject>: " when the plan has a subject.
func (p Plan) Skipped() string {
	line := "skipped, " + p.Reason
	if p.Subject != "" {
		line = p.Subject + ": " + line
	}
	return line
}

// Ran reports whether any of a stage's plans did work: a stage skips only when every one of its
// decisions was fresh, and a stage that made no decision (it always works) ran.
func Ran(plans []Plan) bool {
	for _, p := range plans {
		if !p.Fresh {
			return true
		}
	}
	return len(plans) == 0
}
