//go:build !cgo

package nvml

// New returns a Library whose Init always fails: NVML is reached through cgo, and this
// binary was built without it (CGO_ENABLED=0).
func New(libraryPath string) Library { return noCgo{} }

var errNoCgo = NewError("nvmlInit", 12, "sonde was built without cgo; GPU metrics need a cgo build", ErrLibraryNotFound)

type noCgo struct{}

func (noCgo) Init() error                    { return errNoCgo }
func (noCgo) Shutdown() error                { return nil }
func (noCgo) System() (System, error)        { return System{}, errNoCgo }
func (noCgo) DeviceCount() (int, error)      { return 0, errNoCgo }
func (noCgo) Device(int) (Device, error)     { return nil, errNoCgo }
func (noCgo) NewEventSet() (EventSet, error) { return nil, errNoCgo }
