// Symbol visibility for libautomate's public API.
#ifndef AUTOMATE_EXPORT_H_
#define AUTOMATE_EXPORT_H_

#if defined(__GNUC__)
#define AUTOMATE_EXPORT __attribute__((visibility("default")))
#else
#define AUTOMATE_EXPORT
#endif

#endif  // AUTOMATE_EXPORT_H_
