export {
  type FireContext,
  type FireData,
  type FireHandler,
  type RecurrenceOptions,
  recurrenceDefaults,
} from './common.js'
export { type CronHandle, type CronOptions, cron } from './cron.js'
export { type ScheduleHandle, type ScheduleOptions, schedule } from './schedule.js'
export { fireJobId, type MissedFire, type Overlap, type TickResult } from './scheduler.js'
