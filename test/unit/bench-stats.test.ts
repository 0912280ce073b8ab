// Percentile and summary math of the benchmark statistics (src/bench/stats.ts) on known samples.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  percentile,
  percentileOfSorted,
  percentiles,
  ratePerSecond,
  ratio,
  sortedSamples,
  summarize,
} from '../../src/bench/stats.ts';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

test('nearest rank on 1..100: pN is N, max is 100', () => {
  assert.equal(percentile(oneToHundred, 50), 50);
  assert.equal(percentile(oneToHundred, 90), 90);
  assert.equal(percentile(oneToHundred, 95), 95);
  assert.equal(percentile(oneToHundred, 99), 99);
  assert.equal(percentile(oneToHundred, 100), 100);
  assert.equal(percentile(oneToHundred, 0.5), 1);
  const tenThousand = Array.from({ length: 10_000 }, (_, i) => i + 1);
  assert.equal(percentile(tenThousand, 0.07), 7); // 0.07·10000/100 is 7.000000000000001 in floating point
  assert.equal(percentile(tenThousand, 0.14), 14);
});

test('nearest rank on the textbook sample (15, 20, 35, 40, 50)', () => {
  const xs = [15, 20, 35, 40, 50];
  assert.equal(percentile(xs, 5), 15);
  assert.equal(percentile(xs, 30), 20);
  assert.equal(percentile(xs, 40), 20);
  assert.equal(percentile(xs, 50), 35);
  assert.equal(percentile(xs, 100), 50);
});

test('nearest rank picks a sample and rounds the rank up', () => {
  const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(xs, 50), 5); // ceil(5) = 5
  assert.equal(percentile(xs, 51), 6); // ceil(5.1) = 6
  assert.equal(percentile(xs, 90), 9);
  assert.equal(percentile(xs, 95), 10); // ceil(9.5) = 10
  assert.equal(percentile(xs, 99), 10);
  const thousand = Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(percentile(thousand, 99), 989); // rank 990
  assert.equal(percentile(thousand, 99.9), 998); // rank 999
});

test('unsorted input gives the same answer and is not mutated', () => {
  const xs = [9, 1, 8, 2, 7, 3, 6, 4, 5, 10];
  const copy = [...xs];
  assert.equal(percentile(xs, 50), 5);
  assert.equal(percentile(xs, 90), 9);
  assert.deepEqual(xs, copy);
  assert.deepEqual(summarize(xs), summarize([...xs].sort((a, b) => a - b)));
  assert.deepEqual([...sortedSamples([3, -1, 10, 2.5])], [-1, 2.5, 3, 10]); // numeric, not lexicographic
});

test('a single sample is every percentile', () => {
  for (const p of [0.1, 50, 90, 95, 99, 100]) assert.equal(percentile([42], p), 42);
  assert.deepEqual(summarize([42]), { count: 1, min: 42, mean: 42, p50: 42, p90: 42, p95: 42, p99: 42, max: 42 });
});

test('empty input: percentile is undefined, summary statistics are null', () => {
  assert.equal(percentile([], 50), undefined);
  assert.equal(percentileOfSorted([], 99), undefined);
  assert.deepEqual(summarize([]), {
    count: 0,
    min: null,
    mean: null,
    p50: null,
    p90: null,
    p95: null,
    p99: null,
    max: null,
  });
});

test('percentiles outside (0, 100] are refused', () => {
  assert.throws(() => percentile([1, 2], 0), RangeError);
  assert.throws(() => percentile([1, 2], 101), RangeError);
  assert.throws(() => percentile([], -5), RangeError);
  assert.throws(() => percentile([1], Number.NaN), RangeError);
});

test('summarize 1..100 and a skewed sample', () => {
  assert.deepEqual(summarize(oneToHundred), {
    count: 100,
    min: 1,
    mean: 50.5,
    p50: 50,
    p90: 90,
    p95: 95,
    p99: 99,
    max: 100,
  });
  const skewed = [...Array.from({ length: 98 }, () => 1), 50, 1000];
  const s = summarize(skewed);
  assert.equal(s.p50, 1);
  assert.equal(s.p95, 1);
  assert.equal(s.p99, 50);
  assert.equal(s.max, 1000);
  assert.equal(s.mean, (98 + 50 + 1000) / 100);
});

test('percentiles() sorts once and answers each requested percentile', () => {
  const m = percentiles([5, 3, 1, 4, 2], [20, 60, 100]);
  assert.deepEqual(
    [...m],
    [
      [20, 1],
      [60, 3],
      [100, 5],
    ],
  );
});

test('rates and ratios', () => {
  assert.equal(ratePerSecond(5000, 1000), 5000);
  assert.equal(ratePerSecond(300, 1500), 200);
  assert.equal(ratePerSecond(10, 0), 0);
  assert.equal(ratio(9, 9), 1);
  assert.equal(ratio(45, 90), 0.5);
  assert.equal(ratio(0, 0), 1);
});
