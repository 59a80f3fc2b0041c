// Package fresh decides whether a stage can skip its work. Files are judged by timestamps first
// (the fast path), then by the stat signature git's index records (size, mtime, ctime, inode)
// with a content hash read only where the signature changed (Snapshot); what lives in the Docker
// daemon is judged by image IDs recorded next to the output when it was
// made. The decision itself (Decide) is pure; the rest gathers its facts. It must not talk to the
// engine: callers pass the image IDs they looked up.
package fresh

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// Facts are everything a freshness decision looks at.
type Facts struct {
	Force bool

	Output       string // what the stage makes, for messages
	OutputExists bool
	OutputTime   time.Time
	// OutputInvalid is why an existing output cannot be used (it does not parse: a truncated
	// write by another tool, a disk error); such an output is never fresh.
	OutputInvalid error

	NewestInput     string // the newest input, for messages ("" when there are no file inputs)
	NewestInputTime time.Time
	// ChangedInput names an input whose content changed since the output was made although its
	// timestamp is older (Snapshot); "" when none did.
	ChangedInput string
	// InputsUnrecorded: nothing says which files the output was made from (made by an older
	// version, or the run stopped before recording them), so it is made again.
	InputsUnrecorded bool

	// Key fingerprints settings and input lists that timestamps cannot show (a template removed
	// from TEMPLATE, another compression). Compared only when RecordedKey or CurrentKey is set.
	RecordedKey, CurrentKey string

	// Settings the output was made with and the current ones, by name, each value as
	// SettingHashes stores it. Compared only when CurrentSettings is non-nil; a nil
	// RecordedSettings then means nothing recorded them (an output of an older version).
	RecordedSettings, CurrentSettings map[string]string
	// Derived names settings that follow from the others (a build plan made from them): named
	// only when no other setting changed, so the message names the cause.
	Derived []string

	// Image IDs recorded when the output was made and the daemon's current ones. Compared only
	// when Recorded is non-nil.
	Recorded, Current map[string]string
}

// Decision is whether to skip the work, and why, in words for the dry run and -v output.
type Decision struct {
	Fresh  bool
	Reason string
}

// Decide is the freshness rule shared by every stage.
func Decide(f Facts) Decision {
	switch {
	case f.Force:
		return Decision{false, "FORCE is set"}
	case !f.OutputExists:
		return Decision{false, f.Output + " does not exist yet"}
	case f.OutputInvalid != nil:
		return Decision{false, fmt.Sprintf("%s is unreadable, making it again (%v)", f.Output, f.OutputInvalid)}
	case f.NewestInput != "" && !f.OutputTime.After(f.NewestInputTime):
		return Decision{false, fmt.Sprintf("%s changed after %s was made", f.NewestInput, f.Output)}
	case f.InputsUnrecorded:
		return Decision{false, "no record of the files " + f.Output + " was made from"}
	case f.CurrentSettings != nil && f.RecordedSettings == nil:
		return Decision{false, "no record of the settings " + f.Output + " was made with"}
	case f.CurrentSettings != nil && len(ChangedImages(f.RecordedSettings, f.CurrentSettings)) > 0:
		// Names only: a setting's value may be a secret.
		return Decision{false, fmt.Sprintf("%s changed since %s was made", strings.Join(causes(ChangedImages(f.RecordedSettings, f.CurrentSettings), f.Derived), ", "), f.Output)}
	case f.ChangedInput != "":
		return Decision{false, fmt.Sprintf("%s changed since %s was made", f.ChangedInput, f.Output)}
	case (f.RecordedKey != "" || f.CurrentKey != "") && f.RecordedKey != f.CurrentKey:
		return Decision{false, "its settings or inputs changed since " + f.Output + " was made"}
	}
	if f.Recorded != nil {
		if changed := ChangedImages(f.Recorded, f.Current); len(changed) > 0 {
			return Decision{false, "images changed since " + f.Output + " was made: " + strings.Join(changed, ", ")}
		}
	}
	return Decision{true, f.Output + " is up to date"}
}

// causes are the changed settings but for derived ones, or all of them when only derived ones
// changed.
func causes(changed, derived []string) []string {
	var out []string
	for _, name := range changed {
		if !slices.Contains(derived, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return changed
	}
	return out
}

// ChangedImages lists, sorted, the names whose IDs (or setting hashes) differ between recorded
// and current (missing on either side counts as different).
func ChangedImages(recorded, current map[string]string) []string {
	var changed []string
	for name, id := range recorded {
		if current[name] != id {
			changed = append(changed, name)
		}
	}
	for name := range current {
		if _, ok := recorded[name]; !ok {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	return changed
}

// Newest walks inputs (files or directories, symbolic links followed) and returns the most
// recently modified file, skipping any path under one of exclude. A missing input is an error: a
// stage must not call itself fresh when what it reads is gone.
func Newest(inputs []string, exclude []string) (path string, mod time.Time, err error) {
	err = walkInputs(inputs, exclude, func(p string, info fs.FileInfo) error {
		if info.ModTime().After(mod) {
			path, mod = p, info.ModTime()
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("check inputs of the stage: %w", err)
	}
	return path, mod, nil
}

// Output reports whether a file output exists and when it was written.
func Output(path string) (exists bool, mod time.Time, err error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("check %s: %w", path, err)
	}
	return true, info.ModTime(), nil
}

// State is what a stage records next to its output: the settings fingerprint and the image IDs it
// was made from.
type State struct {
	Key    string            `json:"key,omitempty"`
	Images map[string]string `json:"images,omitempty"`
	// Output is the ID of an output that lives in the daemon (the bundle image).
	Output string `json:"output,omitempty"`
	// Inputs are the files the output was made from, by path (Snapshot).
	Inputs map[string]FileRecord `json:"inputs,omitempty"`
	// Settings are the settings the output was made with, by name (SettingHashes).
	Settings map[string]string `json:"settings,omitempty"`
	// Outputs are the files the stage wrote, by path, as written (RecordOutput, CheckOutput).
	Outputs map[string]FileRecord `json:"outputs,omitempty"`
}

// SettingHashes is what a state records of settings: each value's SHA-256, so a change is seen
// by name while the record never holds a value (PARAMETER_OVERRIDES or a mirror URL may carry a
// secret). The result is never nil.
func SettingHashes(settings map[string]string) map[string]string {
	out := make(map[string]string, len(settings))
	for name, v := range settings {
		sum := sha256.Sum256([]byte(v))
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

// ReadState loads a recorded state; a missing file is the zero State (nothing recorded).
func ReadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read state %s: %w", path, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		// A corrupt record only costs a rebuild.
		return State{}, nil
	}
	return s, nil
}

// WriteState records a state atomically.
func WriteState(path string, s State) error {
	return atomicfile.WriteJSON(path, s, 0o644)
}

// RemoveState forgets a recorded state, before a stage starts replacing its output, so an
// interrupted run is never mistaken for a fresh one.
func RemoveState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state %s: %w", path, err)
	}
	return nil
}

// Key fingerprints settings and input lists: equal parts, equal key.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
