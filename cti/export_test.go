package cti

// AnnouncementMedia exposes the prompt list to the external tests.
var AnnouncementMedia = announcementMedia

// E164 exposes the caller-number normaliser to the external tests.
var E164 = e164
