/* The sensor protocol between producer.c and consumer.c (functional keys). */
#ifndef SENSOR_H
#define SENSOR_H

#define SENSOR_URI "fireball://sensor/temperature"

#define SENSOR_KEY_SEQUENCE 1 /* u32: reading number, from 1 */
#define SENSOR_KEY_CELSIUS 2  /* f32: the reading, degrees Celsius */
#define SENSOR_KEY_TIME_MS 3  /* u32: the producer's clock_ns() / 1e6 when it took the reading */

#endif
