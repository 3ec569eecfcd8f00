package migrations

import (
	"context"
	"fmt"
	"regexp"

	"github.com/drover-dev/drover/pkg/api"
)

// historyCursor is the form of an event id: the embedded store's sequence number, or a Redis
// stream id.
var historyCursor = regexp.MustCompile(`^[0-9]{1,20}(-[0-9]{1,20})?$`)

// History returns a page of a candidate's run history, newest first, and the cursor of the
// next (older) page ("" on the last).
func (s *Service) History(ctx context.Context, migrationID, candidateID string, page HistoryPage) ([]api.HistoryEvent, string, error) {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return nil, "", err
	}
	if err := ValidateCandidateID("candidateId", candidateID); err != nil {
		return nil, "", err
	}
	if page.Before != "" && !historyCursor.MatchString(page.Before) {
		return nil, "", Invalid("before", "%q is not an event id (expected the next of a previous page)", page.Before)
	}
	switch {
	case page.Limit == 0:
		page.Limit = DefaultHistoryPage
	case page.Limit < 1 || page.Limit > MaxHistoryPage:
		return nil, "", Invalid("limit", "%d is out of range (expected 1 to %d)", page.Limit, MaxHistoryPage)
	}
	evs, next, err := s.store.ListHistory(ctx, migrationID, candidateID, page)
	if err != nil {
		return nil, "", s.notFoundOrUnavailable(fmt.Errorf("history of %s: %w", RunID(migrationID, candidateID), err), migrationID, candidateID)
	}
	return evs, next, nil
}
