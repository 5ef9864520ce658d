package lists

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctid/ctid/cti/store"
)

func TestParseMapsNormalisesAndDerivesZones(t *testing.T) {
	csv := "\xEF\xBB\xBFFirst Name,Last Name,Phone,Mobile,Plan,Notes\n" +
		"Ada,Lovelace,020 7946 0001,07400 123001,gold,\"likes\ncalls, mornings\"\n" +
		"Alan,Turing,,+1 212 555 0100,silver,\n" +
		"\n" +
		"Grace,Hopper,+49 30 901820,,,\n"
	sink := &memSink{}
	res, err := Parse(testCtx(t), strings.NewReader(csv), gbConfig(AllOrNothing), Mapping{}, sink, nil)
	require.NoError(t, err)
	require.Equal(t, 3, res.Rows)
	require.Equal(t, 3, res.Imported)
	require.Empty(t, res.Problems)
	require.Len(t, sink.got, 3)

	ada := sink.got[0]
	require.Equal(t, 2, ada.Line)
	require.Equal(t, "Ada", ada.FirstName)
	require.Equal(t, "Lovelace", ada.LastName)
	require.Equal(t, []store.ContactNumber{
		{Number: "+442079460001", Zone: "Europe/London", Label: "Phone"},
		{Number: "+447400123001", Zone: "Europe/London", Label: "Mobile"},
	}, ada.Numbers)
	require.Equal(t, "Europe/London", ada.Zone)
	require.Equal(t, map[string]string{"Plan": "gold", "Notes": "likes\ncalls, mornings"}, ada.Fields, "quoted newline kept")

	alan := sink.got[1]
	require.Equal(t, 4, alan.Line, "line numbers count the quoted newline")
	require.Equal(t, "+12125550100", alan.Numbers[0].Number)
	require.Equal(t, "America/New_York", alan.Zone)
	require.Equal(t, 6, sink.got[2].Line)
	require.Equal(t, "Europe/Berlin", sink.got[2].Zone)
}

func TestParseExplicitMappingAndZoneColumn(t *testing.T) {
	csv := "id;tel;tz;Plan;Region\nA1;07400123001;America/Chicago;gold;north\nA2;07400123002;Mars/Olympus;;\n"
	cfg := gbConfig(Partial)
	cfg.Comma = ';'
	m, err := ParseMapping("phone=TEL, external_id=id, zone=TZ, field=Region")
	require.NoError(t, err)
	sink := &memSink{}
	res, err := Parse(testCtx(t), strings.NewReader(csv), cfg, m, sink, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Imported)
	require.Equal(t, 1, res.Rejected)
	require.Equal(t, []Problem{{Line: 3, Kind: KindRejected, Column: "tz", Reason: `time zone "Mars/Olympus" is not an IANA zone name (e.g. Europe/London)`}}, res.Problems)
	c := sink.got[0]
	require.Equal(t, "A1", c.ExternalID)
	require.Equal(t, "America/Chicago", c.Zone, "an explicit zone wins over the number's")
	require.Empty(t, c.Numbers[0].Zone)
	require.Equal(t, map[string]string{"Region": "north"}, c.Fields, "only the mapped fields")

	for _, bad := range []string{"phone", "colour=red", "first_name=A,first_name=B"} {
		_, err := ParseMapping(bad)
		require.ErrorIs(t, err, ErrMapping, bad)
	}
}

func TestParseDeduplicates(t *testing.T) {
	csv := "ID,Phone,Mobile\n" +
		"1,07400123001,\n" +
		"2,+447400123001,\n" + // same number as line 2
		"3,07400123003,07400123001\n" + // one new number, one repeated: imported without it
		"1,07400123004,\n" + // repeated external id
		"5,07400123009,\n" // already in the list
	sink := &memSink{existing: [][2]string{{"+447400123009", ""}}}
	res, err := Parse(testCtx(t), strings.NewReader(csv), gbConfig(AllOrNothing), Mapping{}, sink, nil)
	require.NoError(t, err, "duplicates are skipped, they do not fail an all-or-nothing import")
	require.Equal(t, 5, res.Rows)
	require.Equal(t, 2, res.Imported)
	require.Equal(t, 3, res.Duplicates)
	require.Equal(t, []Problem{
		{Line: 3, Kind: KindDuplicate, Reason: "+447400123001 is already on line 2"},
		{Line: 4, Kind: KindNote, Reason: "imported without +447400123001 is already on line 2"},
		{Line: 5, Kind: KindDuplicate, Column: "ID", Reason: `external id "1" is already on line 2`},
		{Line: 6, Kind: KindDuplicate, Reason: "+447400123009 is already in the list"},
	}, res.Problems)
	require.Len(t, sink.got[1].Numbers, 1)
}

func TestParseBadInput(t *testing.T) {
	long := "Phone,Name\n07400123001,ok\n07400123002," + strings.Repeat("x", 10<<20) + "\n"
	for _, tc := range []struct {
		name, csv string
		want      error
		msg       string
	}{
		{"latin1", "Name,Phone\nJos\xe9,07400123001\n", ErrEncoding, "line 2, column 1"},
		{"utf16", "\xff\xfeN\x00a\x00", ErrEncoding, "UTF-16"},
		{"nul", "Name,Phone\nA\x00,1\n", ErrEncoding, "NUL"},
		{"no phone column", "Name,Email\nAda,a@x\n", ErrMapping, `no phone column: the header has "Name", "Email"`},
		{"10 MB line", long, ErrLineTooLong, "line 3 is longer than 1048576 bytes"},
		{"unclosed quote", "Phone,Name\n07400123001,\"open\n", ErrSyntax, "line 2"},
		{"empty", "", ErrHeader, "empty"},
		{"repeated header", "Phone,phone\n1,2\n", ErrHeader, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &memSink{}
			_, err := Parse(testCtx(t), strings.NewReader(tc.csv), gbConfig(Partial), Mapping{}, sink, nil)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	// A mapped column missing from the header.
	_, err := Parse(testCtx(t), strings.NewReader("Phone\n1\n"), gbConfig(Partial), Mapping{Phones: []string{"Mobile"}}, &memSink{}, nil)
	require.ErrorIs(t, err, ErrMapping)
	require.Contains(t, err.Error(), `phone column "Mobile" is not in the header`)
	_, err = Parse(testCtx(t), strings.NewReader("Phone\n1\n"), Config{DefaultRegion: "XX"}, Mapping{}, &memSink{}, nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestParseRejectsInvalidRows(t *testing.T) {
	csv := "Phone,Name\n" +
		"07400123001,ok\n" +
		"12,short\n" +
		"call me,words\n" +
		",empty\n" +
		"07400123002,too,many\n" +
		"07400123003,ok\n"
	sink := &memSink{}
	res, err := Parse(testCtx(t), strings.NewReader(csv), gbConfig(AllOrNothing), Mapping{}, sink, nil)
	require.ErrorIs(t, err, ErrRejectedRows)
	require.Contains(t, err.Error(), "4 of 6 rows rejected (first: line 3")
	require.Equal(t, 4, res.Rejected)
	lines := []int{}
	for _, p := range res.Problems {
		require.Equal(t, KindRejected, p.Kind)
		require.NotEmpty(t, p.Reason)
		lines = append(lines, p.Line)
	}
	require.Equal(t, []int{3, 4, 5, 6}, lines)
	require.Contains(t, res.Problems[0].Reason, `"12" is not a valid phone number (default region GB)`)
	require.Contains(t, res.Problems[2].Reason, `no phone number (columns "Phone" are empty)`)
	require.Contains(t, res.Problems[3].Reason, "3 fields, the header has 2")
	for _, c := range sink.got {
		require.NotEqual(t, 7, c.Line, "nothing written after the first rejected row")
	}

	sink = &memSink{}
	res, err = Parse(testCtx(t), strings.NewReader(csv), gbConfig(Partial), Mapping{}, sink, nil)
	require.NoError(t, err)
	require.Equal(t, 2, res.Imported)
	require.Len(t, sink.got, 2)
}

// TestImportAllOrNothingLeavesNothing runs the bad inputs through the store: the
// import is recorded failed and the list holds no contact.
func TestImportAllOrNothingLeavesNothing(t *testing.T) {
	st := openStore(t)
	ctx := testCtx(t)
	spec := store.ImportSpec{CampaignID: "c1", ListName: "main", FileName: "x.csv", By: "sue"}
	var b strings.Builder
	b.WriteString("Phone,Name\n")
	for i := 0; i < 1500; i++ { // several batches are written before the bad row
		b.WriteString("0740012")
		b.WriteString(strings.Repeat("0", 4-len(itoa(i))) + itoa(i))
		b.WriteString(",x\n")
	}
	good := b.String()
	for _, tc := range []struct {
		name, csv string
		want      error
	}{
		{"invalid number at the end", good + "123,bad\n", ErrRejectedRows},
		{"latin1 at the end", good + "07400911111,Jos\xe9\n", ErrEncoding},
		{"long line at the end", good + "07400911111," + strings.Repeat("y", 2<<20) + "\n", ErrLineTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gbConfig(AllOrNothing)
			cfg.BatchSize = 400
			rep, err := Import(ctx, st, spec, strings.NewReader(tc.csv), cfg, Mapping{}, nil)
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, store.ImportFailed, rep.Import.Status)
			require.Zero(t, rep.Imported)
			lists, err := st.ContactLists(ctx, "c1")
			require.NoError(t, err)
			require.Equal(t, 0, lists[0].Contacts)
		})
	}
	// The same good rows then import completely: the failed imports left no row behind.
	rep, err := Import(ctx, st, spec, strings.NewReader(good), gbConfig(AllOrNothing), Mapping{}, nil)
	require.NoError(t, err)
	require.Equal(t, store.ImportComplete, rep.Import.Status)
	require.Equal(t, 1500, rep.Imported)
	// Partial: the good rows are kept and the import says so.
	rep, err = Import(ctx, st, store.ImportSpec{CampaignID: "c1", ListName: "second", By: "sue"},
		strings.NewReader("Phone\n07400922222\nnope\n"), gbConfig(Partial), Mapping{}, nil)
	require.NoError(t, err)
	require.Equal(t, store.ImportPartialOK, rep.Import.Status)
	require.Equal(t, 1, rep.Imported)
	require.Equal(t, 1, rep.Rejected)
	n := 0
	require.NoError(t, st.EachContact(ctx, "c1", func(store.Contact) error { n++; return nil }))
	require.Equal(t, 1501, n)
	// A campaign that does not exist.
	_, err = Import(ctx, st, store.ImportSpec{CampaignID: "nope", ListName: "x"}, strings.NewReader(good), gbConfig(AllOrNothing), Mapping{}, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	var b bytes.Buffer
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	b.Write(d)
	return b.String()
}

func TestProgressReported(t *testing.T) {
	var b strings.Builder
	b.WriteString("Phone\n")
	for i := 0; i < 2500; i++ {
		b.WriteString("+1212555" + strings.Repeat("0", 4-len(itoa(i%10000))) + itoa(i%10000) + "\n")
	}
	cfg := gbConfig(Partial)
	cfg.BatchSize = 1000
	var seen []Progress
	_, err := Parse(testCtx(t), strings.NewReader(b.String()), cfg, Mapping{}, &memSink{}, func(p Progress) { seen = append(seen, p) })
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(seen), 3)
	last := seen[len(seen)-1]
	require.Equal(t, 2500, last.Rows)
	require.Equal(t, int64(b.Len()), last.Bytes)
	require.False(t, errors.Is(err, ErrRejectedRows))
}
