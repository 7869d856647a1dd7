// Package private creates the files and folders that hold audit records (the SQLite
// database, the blob archive, reports) readable by their owner only, whatever the
// process's umask: files 0600, folders 0700. Audit records name users, addresses, mail
// subjects and files; under the usual umask 022 they would be readable by every local
// user.
//
// Only what o365ingest creates is made private; an existing file or folder keeps the
// mode its owner gave it (a group that is meant to read a database still can).
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileMode and DirMode are the modes of what this package creates.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// MkdirAll creates dir and any missing parents with DirMode. Folders that exist
// already are left as they are.
func MkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, DirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	// The umask may have taken bits away; it can never have added any, but a umask
	// that removes the owner's bits would leave a folder we cannot use.
	return os.Chmod(dir, DirMode)
}

// CreateIfAbsent creates an empty file at path with FileMode if nothing is there, and
// leaves an existing file alone. The SQLite sink calls it before opening a database:
// SQLite gives the -wal and -shm files it makes the database file's mode.
func CreateIfAbsent(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(FileMode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteFile writes data to path with FileMode, atomically: to a temporary file in the
// same folder, synced, then renamed over path, so a reader never sees half a file and
// a file that was there is replaced (its old mode goes with it).
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(FileMode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
