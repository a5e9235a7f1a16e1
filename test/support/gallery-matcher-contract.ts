import type { GalleryMatcher } from '../../sdk/tracking/types';

/** People to enroll, as a gallery implementation's own enrollment API takes them. */
export interface ContractPerson {
  personId: string;
  name: string;
  embeddings: Float32Array[];
}

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
}

/**
 * The GalleryMatcher contract (what FaceTracker relies on) for any gallery: `make` enrolls the
 * people and returns the gallery, whose match threshold must be 0.5.
 */
export function galleryMatcherContract(name: string, make: (people: ContractPerson[]) => Promise<GalleryMatcher> | GalleryMatcher): void {
  describe(`GalleryMatcher contract: ${name}`, () => {
    const ada = unit([1, 0, 0, 0]);
    const bob = unit([0, 1, 0, 0]);
    const people: ContractPerson[] = [
      { personId: 'ada', name: 'Ada', embeddings: [ada, unit([1, 0.3, 0, 0])] },
      { personId: 'bob', name: 'Bob', embeddings: [bob] },
    ];

    test('one answer per embedding, in order: the best person above the threshold, or null', async () => {
      const gallery = await make(people);
      const answers = gallery.match([unit([0.1, 1, 0, 0]), unit([0, 0, 1, 0]), unit([1, 0.05, 0, 0])]);
      expect(answers).toHaveLength(3);
      expect(answers[0]).toMatchObject({ personId: 'bob', name: 'Bob' });
      expect(answers[0]!.similarity).toBeCloseTo(1 / Math.hypot(0.1, 1), 4);
      expect(answers[1]).toBeNull();
      expect(answers[2]).toMatchObject({ personId: 'ada', name: 'Ada' });
    });

    test('an empty query gives an empty answer; an empty gallery answers null', async () => {
      expect((await make(people)).match([])).toEqual([]);
      expect((await make([])).match([ada])).toEqual([null]);
    });
  });
}
