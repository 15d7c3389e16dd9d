//! Compact adjacency lists: every step's neighbours in one flat array (compressed sparse
//! rows), so a 10,000-step graph costs two allocations instead of 10,000.

/// `targets[offsets[i]..offsets[i + 1]]` are the neighbours of step `i`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Adjacency {
    offsets: Vec<usize>,
    targets: Vec<usize>,
}

impl Adjacency {
    pub fn with_capacity(steps: usize, edges: usize) -> Adjacency {
        let mut offsets = Vec::with_capacity(steps + 1);
        offsets.push(0);
        Adjacency {
            offsets,
            targets: Vec::with_capacity(edges),
        }
    }

    /// Number of steps (rows) so far.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The neighbours of `step`, in the order they were pushed.
    pub fn of(&self, step: usize) -> &[usize] {
        &self.targets[self.offsets[step]..self.offsets[step + 1]]
    }

    /// The row being filled.
    pub fn current(&self) -> &[usize] {
        &self.targets[self.offsets[self.len()]..]
    }

    /// Adds `target` to the row being filled.
    pub fn push(&mut self, target: usize) {
        self.targets.push(target);
    }

    /// Closes the row being filled; the next push starts the next step's row.
    pub fn end_row(&mut self) {
        self.offsets.push(self.targets.len());
    }

    /// The same edges the other way round; each reversed row lists its steps in increasing
    /// order (a counting sort by source).
    pub fn reversed(&self) -> Adjacency {
        let steps = self.len();
        let mut counts = vec![0usize; steps + 1];
        for &target in &self.targets {
            counts[target + 1] += 1;
        }
        for i in 0..steps {
            counts[i + 1] += counts[i];
        }
        let offsets = counts.clone();
        let mut next = counts;
        let mut targets = vec![0; self.targets.len()];
        for source in 0..steps {
            for &target in self.of(source) {
                targets[next[target]] = source;
                next[target] += 1;
            }
        }
        Adjacency { offsets, targets }
    }

    /// Every edge as `(from, to)`.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len()).flat_map(move |from| self.of(from).iter().map(move |&to| (from, to)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_rows(rows: &[&[usize]]) -> Adjacency {
        let mut adjacency = Adjacency::with_capacity(rows.len(), 0);
        for row in rows {
            for &t in *row {
                adjacency.push(t);
            }
            adjacency.end_row();
        }
        adjacency
    }

    #[test]
    fn rows_and_their_reversal() {
        let forward = from_rows(&[&[], &[0], &[0, 1], &[2, 0]]);
        assert_eq!(forward.len(), 4);
        assert_eq!(forward.of(3), &[2, 0]);
        let backward = forward.reversed();
        assert_eq!(backward, from_rows(&[&[1, 2, 3], &[2], &[3], &[]]));
        assert_eq!(
            backward.reversed(),
            from_rows(&[&[], &[0], &[0, 1], &[0, 2]])
        );
        assert_eq!(forward.edges().count(), 5);
    }
}
