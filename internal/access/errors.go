package access

import "errors"

// Sentinels of a refusal; a *DeniedError wraps one of them with the reason.
var (
	// ErrUnauthenticated: the caller did not prove who it is (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the caller is known but may not do this (403).
	ErrForbidden = errors.New("forbidden")
)

// DeniedError is a refused request with the reason, for the caller and the audit log.
type DeniedError struct {
	Kind   error // ErrUnauthenticated or ErrForbidden
	Reason string
}

func (e *DeniedError) Error() string { return e.Reason }

// Unwrap lets errors.Is tell the kind.
func (e *DeniedError) Unwrap() error { return e.Kind }

func unauthenticated(reason string) error {
	return &DeniedError{Kind: ErrUnauthenticated, Reason: reason}
}

func forbidden(reason string) error { return &DeniedError{Kind: ErrForbidden, Reason: reason} }

// InvalidError is bad input to an admin action, naming the field.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }
