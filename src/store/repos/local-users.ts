/**
 * Transitional re-export for `src/platforms/` (which imports these types from here); the types
 * live in `../types.ts`. Delete once those imports name `store/types.js`.
 */
export type { LocalTokenKind, LocalUserRow, LocalUserSummary, LocalUsersRepo } from '../types.js';
