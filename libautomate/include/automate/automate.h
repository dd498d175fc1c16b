// Umbrella header: the whole public API of libautomate.
#ifndef AUTOMATE_AUTOMATE_H_
#define AUTOMATE_AUTOMATE_H_

#include "automate/client.h"
#include "automate/clock.h"
#include "automate/docker_executor.h"
#include "automate/engine.h"
#include "automate/execution.h"
#include "automate/executor.h"
#include "automate/job.h"
#include "automate/json.h"
#include "automate/local_executor.h"
#include "automate/log.h"
#include "automate/store.h"

#endif  // AUTOMATE_AUTOMATE_H_
