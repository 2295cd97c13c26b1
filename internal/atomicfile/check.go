package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Check says, before any work is done, why Write(path) would fail: path is a
// folder, its folder does not exist, or may not be written. It creates and
// removes a temporary file there, as Write would.
func Check(path string) error {
	if path == "" {
		return errors.New("no file named")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder: name a file in it", path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: the folder %s does not exist: create it, or name a file in an existing one", path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("%s: %s is not a folder", path, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%s: the folder %s may not be written (permission denied): name a file in a folder this user may write", path, dir)
		}
		return fmt.Errorf("%s: cannot write in %s: %w", path, dir, err)
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}
