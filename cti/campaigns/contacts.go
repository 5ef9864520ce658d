package campaigns

import (
	"context"

	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

// ContactStore streams a campaign's contacts (*store.Store).
type ContactStore interface {
	EachContact(ctx context.Context, campaignID string, fn func(store.Contact) error) error
}

// DialerContact is a stored contact as queue/dialer loads it.
func DialerContact(c store.Contact) dialer.Contact {
	d := dialer.Contact{ID: dialer.ContactID(c.ID), Zone: c.Zone, Numbers: make([]string, 0, len(c.Numbers))}
	perNumber := false
	zones := make([]string, 0, len(c.Numbers))
	for _, n := range c.Numbers {
		d.Numbers = append(d.Numbers, n.Number)
		zones = append(zones, n.Zone)
		perNumber = perNumber || (n.Zone != "" && n.Zone != c.Zone)
	}
	if perNumber {
		d.NumberZones = zones
	}
	return d
}

// LoadContacts hands the campaign's visible contacts to fn in dialling order, batch
// at a time (for dialer.AddContacts), so a million contacts never sit in two copies.
func LoadContacts(ctx context.Context, st ContactStore, campaignID string, batch int, fn func([]dialer.Contact) error) error {
	batch = max(batch, 1)
	buf := make([]dialer.Contact, 0, batch)
	err := st.EachContact(ctx, campaignID, func(c store.Contact) error {
		buf = append(buf, DialerContact(c))
		if len(buf) < batch {
			return nil
		}
		err := fn(buf)
		buf = make([]dialer.Contact, 0, batch)
		return err
	})
	if err != nil || len(buf) == 0 {
		return err
	}
	return fn(buf)
}
