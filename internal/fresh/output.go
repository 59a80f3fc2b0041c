package fresh

import (
	"errors"
	"fmt"
	"os"
)

// RecordOutput is the record of a file a stage just wrote whose content digest it computed while
// writing (sha256hex): its signature is read, its content is not read again.
func RecordOutput(path, sha256hex string) (FileRecord, error) {
	info, err := os.Stat(path)
	if err != nil {
		return FileRecord{}, fmt.Errorf("record %s: %w", path, err)
	}
	return FileRecord{Sig: SignatureOf(info), SHA256: sha256hex}, nil
}

// CheckOutput tells whether the file at path is still the one recorded when it was written: a
// file with the recorded signature is not read (any write — a truncation, a flipped byte, a copy
// over it — changes its size, times or inode); another signature costs one read of the content,
// which must have the recorded digest. A cached output is used only when this returns nil.
func CheckOutput(path string, rec FileRecord) error {
	if rec.SHA256 == "" {
		return errors.New("no record of its content")
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if SignatureOf(info) == rec.Sig {
		return nil
	}
	if info.Size() != rec.Sig.Size {
		return fmt.Errorf("it holds %d bytes, %d were written", info.Size(), rec.Sig.Size)
	}
	sum, err := HashFile(path)
	if err != nil {
		return err
	}
	if sum != rec.SHA256 {
		return fmt.Errorf("its content is sha256:%s, sha256:%s was written", sum, rec.SHA256)
	}
	return nil
}
