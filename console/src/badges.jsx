// A budget's state as badges: open, frozen, locked (after an overrun), revoked for which
// classes. Text, not only colour, so it reads without colour too.
import { budgetState, revokedClasses } from './api.js';

export function StateBadges({ b }) {
  const revoked = revokedClasses(b);
  const badges = [];
  if (b.frozen) badges.push(<span class="badge frozen">frozen</span>);
  if (b.locked) badges.push(<span class="badge locked" title="spend is above the limit after an overrun: every class refused">locked</span>);
  if (revoked.length && !b.locked) { /* locked already says every class is refused */
    badges.push(<span class="badge revoked" data-revoked={revoked.join(',')}>revoked: {revoked.join(', ')}</span>);
  }
  if (budgetState(b) === 'open') badges.push(<span class="badge open">open</span>);
  return <span class="badges">{badges}</span>;
}
